// pulse-schema: the schema service and the operators' command line
// (services/schema/cli.h).
#include "services/schema/cli.h"

int main(int argc, char** argv) { return pulse::schema::RunCli(argc, argv); }
