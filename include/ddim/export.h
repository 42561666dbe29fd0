#pragma once

// DDIM_API marks the library's public surface. libddim is built with hidden visibility, so only
// what carries this macro is exported from the shared library (as TORCH_API does for LibTorch).
#if defined(_WIN32)
#if defined(DDIM_BUILDING_LIBRARY)
#define DDIM_API __declspec(dllexport)
#elif defined(DDIM_SHARED)
#define DDIM_API __declspec(dllimport)
#else
#define DDIM_API
#endif
#else
#define DDIM_API __attribute__((visibility("default")))
#endif

// DDIM_HIDDEN keeps a member of an exported class inside libddim: a private constructor that takes
// a ddim::detail type, say, which no user can call.
#if defined(_WIN32)
#define DDIM_HIDDEN
#else
#define DDIM_HIDDEN __attribute__((visibility("hidden")))
#endif
