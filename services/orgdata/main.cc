// pulse-orgdata: the org-data service and its data commands
// (services/orgdata/cli.h).
#include "services/orgdata/cli.h"

int main(int argc, char** argv) { return pulse::orgdata::RunCli(argc, argv); }
