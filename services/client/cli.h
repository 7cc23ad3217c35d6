#ifndef PULSE_SERVICES_CLIENT_CLI_H_
#define PULSE_SERVICES_CLIENT_CLI_H_

namespace pulse::client {

// pulse's whole command line (tree, employee, chain, summary, revision, health,
// import): parses flags (with PULSE_* environment fallbacks), runs the command
// and returns the exit status.
int RunCli(int argc, char** argv);

}  // namespace pulse::client

#endif  // PULSE_SERVICES_CLIENT_CLI_H_
