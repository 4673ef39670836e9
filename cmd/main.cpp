// bertc: ahead-of-time compiler for BERT-family transformer encoders.
#include "cmd/commands.h"

int main(int argc, char** argv) { return bertc::cli::runCli(argc, argv); }
