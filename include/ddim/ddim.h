#pragma once

// Umbrella header: everything the ddim library offers.
#include <ddim/errors.h>
#include <ddim/export.h>
#include <ddim/io/files.h>
#include <ddim/io/image.h>
#include <ddim/io/sha256.h>
#include <ddim/io/tensor_file.h>
#include <ddim/models/aot_inductor_unet.h>
#include <ddim/models/torchscript_unet.h>
#include <ddim/models/unet.h>
#include <ddim/pipelines/ddim_pipeline.h>
#include <ddim/pipelines/inversion_method.h>
#include <ddim/pipelines/inversion_pipeline.h>
#include <ddim/pipelines/slerp.h>
#include <ddim/schedulers/config_base.h>
#include <ddim/schedulers/config_enums.h>
#include <ddim/schedulers/ddim_inverse_scheduler.h>
#include <ddim/schedulers/ddim_scheduler.h>
#include <ddim/schedulers/dpm_solver_multistep_inverse_scheduler.h>
#include <ddim/schedulers/dpm_solver_multistep_scheduler.h>
#include <ddim/schedulers/noise_schedule.h>
#include <ddim/schedulers/scheduler.h>
#include <ddim/schedulers/scheduler_factory.h>
#include <ddim/version.h>
#include <ddim/warnings.h>
