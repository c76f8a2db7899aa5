/* One function per subcommand, dispatched from main.c. */
#ifndef COMMANDS_H
#define COMMANDS_H
#include <stdbool.h>
int cmd_watch(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_serve(int argc, char **argv);
/* doctor's routes line for pid (doctor_routes.c); list: every template with its methods. */
void doctor_routes(int pid, bool list);
#endif
