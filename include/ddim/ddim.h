#pragma once

// Umbrella header: everything the ddim library offers.
#include <ddim/version.h>
