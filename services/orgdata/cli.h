#ifndef PULSE_SERVICES_ORGDATA_CLI_H_
#define PULSE_SERVICES_ORGDATA_CLI_H_

namespace pulse::orgdata {

// pulse-orgdata's whole command line (serve, seed, import, export): parses
// flags (with PULSE_* environment fallbacks), runs the command and returns the
// exit status.
int RunCli(int argc, char** argv);

}  // namespace pulse::orgdata

#endif  // PULSE_SERVICES_ORGDATA_CLI_H_
