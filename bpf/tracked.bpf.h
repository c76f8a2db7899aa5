/* The tracked-process map, declared identically in every BPF object: the socket object owns
 * it (and follows fork/exit in it); the others share it through bpf_map__reuse_fd(). */
#ifndef TRACKED_BPF_H
#define TRACKED_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);                 /* tgid */
	__type(value, struct pv_proc_info);
} tracked SEC(".maps");

#endif
