#ifndef PULSE_SERVICES_SCHEMA_CLI_H_
#define PULSE_SERVICES_SCHEMA_CLI_H_

namespace pulse::schema {

// pulse-schema's whole command line (serve, upgrade, downgrade, stamp,
// current, heads, history, log, validate, repair-index, backup, restore,
// new, merge): parses flags (with PULSE_* environment fallbacks), runs the
// command and returns the exit status.
int RunCli(int argc, char** argv);

}  // namespace pulse::schema

#endif  // PULSE_SERVICES_SCHEMA_CLI_H_
