/* One event loop: a 100 ms timerfd drains the ring buffer (BPF wakes us early only when
 * it fills up), a signalfd ends the run, stdin carries keys for top. A second Ctrl-C
 * exits at once. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <bpf/libbpf.h>
#include "agent.h"
#include "app_tables.h"
#include "attribution.h"
#include "proc.h"
#include "tls_bind.h"
#include "sqlite_probe.h"
#include "units.h"

#define TICK_NS 100000000ull
#define IDLE_CONN_NS (600ull * 1000000000ull)
#define IDLE_THREAD_NS 5000000000ull
/* A task quiet this long has ended (a slow request's task may wait on an upstream for a while) */
#define IDLE_UNIT_NS 60000000000ull
#define SETTLE_QUIET_NS 1000000000ull /* a response of unknown end this quiet has ended */
#define SCAN_NS 1000000000ull         /* --all-python looks for new interpreters this often */

/* attr_sweep's "still alive" tests: pending calls of a thread are dropped once it exited (the
 * first pass); those of a task (a worker id of a Context) once it has been quiet for
 * IDLE_UNIT_NS (the second), as nothing says when a task ends. */
static bool alive_unless_thread_exited(uint32_t worker)
{
	return units_is_context(worker) || proc_thread_alive(worker);
}

static bool alive_unless_task(uint32_t worker)
{
	return !units_is_context(worker);
}

static int make_timer(void)
{
	struct itimerspec its = { .it_interval = { 0, TICK_NS }, .it_value = { 0, TICK_NS } };
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

	if (fd >= 0 && timerfd_settime(fd, 0, &its, NULL)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int make_signalfd(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, mask, NULL))
		return -1;
	return signalfd(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* A unix socket's end is seen by no kernel event when its process closes it first (gunicorn
 * closing after a response of unknown length): the sockets missing from /proc's list end. */
static void end_dead_unix(struct agent *a, uint64_t now)
{
	struct unix_alive *alive = conns_unix_alive(a->conns, agent_now_ns());

	agent_drain(a);
	conns_sweep_unix(a->conns, alive, now);
}

/* Per-interval figures are computed once here, whatever the view. */
static int take_snapshot(struct agent *a, const struct agent_loop *loop, bool final)
{
	uint64_t now = agent_now_ns();

	for (int i = 0; i < a->nservices; i++) {
		service_name_routes(&a->services[i], now, final);
		service_roll_rates(&a->services[i], (now - a->last_snap_ns) / 1e9);
	}
	a->last_snap_ns = now;
	return loop->snapshot(a, final, loop->ctx);
}

int agent_run(struct agent *a, const struct agent_loop *loop)
{
	uint64_t interval_ns = a->opt.interval_s * 1e9, next_snap = a->start_ns + interval_ns;
	uint64_t next_scan = a->start_ns + SCAN_NS;
	uint64_t end_ns = a->opt.duration_s > 0 ? a->start_ns + (uint64_t)(a->opt.duration_s * 1e9) : 0;
	int ep = epoll_create1(EPOLL_CLOEXEC), tfd = make_timer(), sfd, ret = 0;
	struct epoll_event ev = { .events = EPOLLIN };
	bool done = false;
	sigset_t mask;

	sfd = make_signalfd(&mask);
	if (ep < 0 || tfd < 0 || sfd < 0) {
		fprintf(stderr, "pyvitals: setting up the event loop failed: %s\n", strerror(errno));
		ret = -1;
		goto out;
	}
	ev.data.fd = tfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
	ev.data.fd = sfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.fd = ring_buffer__epoll_fd(a->rb);
	epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	if (loop->key) {
		ev.data.fd = STDIN_FILENO;
		epoll_ctl(ep, EPOLL_CTL_ADD, STDIN_FILENO, &ev);
	}
	app_tables_refresh(a, agent_now_ns());
	while (!done) {
		struct epoll_event evs[4];
		int n = epoll_wait(ep, evs, 4, -1);
		uint64_t now;

		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "pyvitals: epoll_wait: %s\n", strerror(errno));
			ret = -1;
			break;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			uint64_t buf[16];

			if (fd == sfd) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == sizeof(si))
					done = true;
			} else if (fd == tfd) {
				if (read(tfd, buf, sizeof(uint64_t)) < 0 && errno != EAGAIN)
					done = true;
			} else if (fd == STDIN_FILENO) {
				char ch;
				ssize_t r = read(STDIN_FILENO, &ch, 1);

				if (r <= 0)
					epoll_ctl(ep, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
				else if (loop->key(a, ch, loop->ctx))
					done = true;
			}
		}
		agent_drain(a);
		now = agent_now_ns();
		app_tables_refresh(a, now);
		if (end_ns && now >= end_ns)
			done = true;
		if (a->opt.all_python && now >= next_scan) {
			all_python_scan(a);
			agent_refresh_probes(a);
			next_scan = now + SCAN_NS;
		}
		if (!done && now >= next_snap) {
			next_snap += interval_ns;
			if (next_snap <= now)
				next_snap = now + interval_ns;
			if (agent_targets_gone(a)) {
				done = true;
				break;
			}
			conns_sweep(a->conns, now > IDLE_CONN_NS ? now - IDLE_CONN_NS : 0, 0);
			end_dead_unix(a, now);
			conns_settle(a->conns, now > SETTLE_QUIET_NS ? now - SETTLE_QUIET_NS : 0);
			if (a->tls_bind) /* threads idle for seconds: what they hold will not be tied now */
				tls_bind_sweep(a->tls_bind, now > IDLE_THREAD_NS ? now - IDLE_THREAD_NS : 0);
			for (int i = 0; i < a->nservices; i++) /* threads that exited (recycled workers) */
				if (a->services[i].attr) {
					attr_sweep(a->services[i].attr, now > IDLE_THREAD_NS ? now - IDLE_THREAD_NS : 0,
						   alive_unless_thread_exited);
					attr_sweep(a->services[i].attr, now > IDLE_UNIT_NS ? now - IDLE_UNIT_NS : 0,
						   alive_unless_task);
				}
			units_sweep(a->units, now);
			agent_refresh_probes(a);
			if (take_snapshot(a, loop, false))
				done = true;
		}
	}
	/* A second Ctrl-C during the last snapshot ends us at once. */
	sigprocmask(SIG_UNBLOCK, &mask, NULL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	agent_drain(a);
	/* a unix connection that closed since the last sweep ends its response now, not never */
	end_dead_unix(a, agent_now_ns());
	/* the last word: a response of unknown end ended at its last I/O seen */
	conns_settle(a->conns, agent_now_ns());
	/* a table that came since the last try (Django's urlconf, imported by the first request)
	 * still names the requests held for it */
	for (int i = 0; i < a->nservices; i++)
		if (a->services[i].table_pending)
			a->services[i].table_next_read_ns = 0;
	app_tables_refresh(a, agent_now_ns());
	if (ret == 0)
		take_snapshot(a, loop, true);
out:
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	if (ep >= 0)
		close(ep);
	return ret;
}
