/* h_ping: the liveness script; sets IAXKEY_STATUS=OK and ends. */
#include "agi/iaxkeyd.h"

/* Run the ping script. */
void
h_ping_start(struct session *s)
{
	session_setvar(s, "IAXKEY_STATUS", "OK");
	session_finish(s, "OK", NULL);
}
