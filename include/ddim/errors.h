#pragma once

// The error kinds of the library. Every exception ddim throws is one of these; each message names
// what was wrong and with which value, in one line.

#include <stdexcept>
#include <string>

#include "ddim/export.h"

namespace ddim {

// The base of every ddim error.
class DDIM_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// A scheduler (or model) configuration that cannot be used: malformed JSON, a key with the wrong
// type or an invalid value, an unknown class name, or a combination of options that diffusers
// itself cannot run. The message names the key and the value. Raised when the config is loaded.
class DDIM_API ConfigError : public Error {
 public:
  using Error::Error;
};

// A scheduler used out of order or with a bad argument: step() before set_timesteps(), a step
// count out of range, a timestep that is not in the schedule, conflicting noise arguments, or a
// step count for which diffusers itself would return NaN.
class DDIM_API SchedulerError : public Error {
 public:
  using Error::Error;
};

// A file that cannot be read, decoded or written; the message names the file and the reason.
class DDIM_API IOError : public Error {
 public:
  using Error::Error;
};

// A bad argument from the caller: a tensor whose shape does not fit the model, an option out of
// range, a malformed override. The tools report it with exit code 2.
class DDIM_API UsageError : public Error {
 public:
  using Error::Error;
};

// `text` with control characters escaped (\n, \t, \xNN): user-given names inside one-line messages.
DDIM_API std::string one_line(const std::string& text);

// A number as messages show it: std::ostream's default format (0.5, 1e+10, nan, inf).
DDIM_API std::string number_text(double value);

}  // namespace ddim
