/* One function per subcommand, dispatched from main.c. */
#ifndef COMMANDS_H
#define COMMANDS_H
int cmd_watch(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_serve(int argc, char **argv);
#endif
