// pulse: the command-line client of the Pulse services (services/client/cli.h).
#include "services/client/cli.h"

int main(int argc, char** argv) { return pulse::client::RunCli(argc, argv); }
