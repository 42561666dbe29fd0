#pragma once

// Umbrella header: everything the ddim library offers.
#include <ddim/config_error.h>
#include <ddim/io/image.h>
#include <ddim/io/tensor_file.h>
#include <ddim/io_error.h>
#include <ddim/models/torchscript_unet.h>
#include <ddim/models/unet.h>
#include <ddim/pipelines/ddim_pipeline.h>
#include <ddim/pipelines/inversion_pipeline.h>
#include <ddim/scheduler_error.h>
#include <ddim/schedulers/ddim_inverse_scheduler.h>
#include <ddim/schedulers/ddim_scheduler.h>
#include <ddim/schedulers/discrete_schedule.h>
#include <ddim/schedulers/dpm_solver_multistep_inverse_scheduler.h>
#include <ddim/schedulers/dpm_solver_multistep_scheduler.h>
#include <ddim/schedulers/noise_schedule.h>
#include <ddim/schedulers/scheduler.h>
#include <ddim/version.h>
#include <ddim/warnings.h>
