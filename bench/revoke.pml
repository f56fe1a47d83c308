/*
 * The reference revoke protocol in Promela, for `pnpm bench:explore`
 * (BENCHMARKS.md, "Explorer vs SPIN"): the same moves as
 * bench/revoke-protocol-{flr,close}-N.yaml explored by `dmabuf-ref explore`,
 * written from the model's rules (packages/core/src/lifetime: revoke.ts,
 * map.ts, fence.ts, attach.ts, resv.ts; packages/core/src/reference:
 * exporter.ts, importer.ts), not from kernel code.
 *
 * One dma-buf of the reference exporter, N dynamic reference importers, the
 * buffer's resv lock, in-flight DMA jobs with their fences. Every statement
 * is one `d_step` (one indivisible transition), as one explorer step is:
 *   - each importer thread: attach, lock, map, dma-submit, unlock,
 *     dma-access, signal, lock, unmap, unlock, detach;
 *   - the exporter thread: revoke (temporary), region inaccessible, region
 *     live, un-revoke (FLR); or with -DCLOSE one permanent revoke;
 *   - the kernel's continuations: the revoke / un-revoke task's steps
 *     (REVOKE_PROGRAM / UNREVOKE_PROGRAM of revoke.ts) and each importer's
 *     owed unmap after an invalidate (lock, unmap, unlock: owedUnmaps).
 * A call that would sleep (lock, attach or detach while resv is held) is not
 * enabled until it can run; a call reading a result whose call failed (map
 * after a failed attach, dma-access after a failed dma-submit) never runs,
 * as in the explorer. The oracle's rules are assertions.
 *
 * With -DIDS the model also keeps the ids the explorer's state holds and
 * the order of the buffer's attachment list (see below), and its state space
 * is the explorer's: 8,077 states and 13,167 transitions against 8,076 and
 * 13,165 at N = 2, 768,985 / 1,413,761 against 768,984 / 1,413,759 at N = 3
 * (357,826 / 677,831 against 357,825 / 677,829 with -DCLOSE), the one more
 * state and two more transitions being Promela's `init`.
 *
 * spin -DN=3 [-DIDS] [-DCLOSE] -a revoke.pml && gcc -O2 -DSAFETY -DNOREDUCE -o pan pan.c && ./pan -E
 * (-E: a process stopped for ever is a terminal state here, as in the
 * explorer, not an error.)
 */
#ifndef N
#define N 2
#endif

/* resv holders: 0 free, 1..N importer thread i, TASKH the exporter's task, OWEDH+i importer i's owed unmap */
#define TASKH (N + 1)
#define OWEDH (N + 1)

#define NONE 0
#define REVOKE 1
#define UNREVOKE 2

#define USABLE 0
#define TEMPORARY 1
#define PERMANENT 2

byte resv;              /* dmabuf->resv holder */
byte revoked;           /* USABLE, TEMPORARY, PERMANENT */
bool live = 1;          /* the buffer's memory region */
byte task;              /* NONE, REVOKE, UNREVOKE */
byte tpc;               /* the task's next step */
bool tperm;             /* the revoke is permanent */
byte fences;            /* unsignalled fences on resv */
byte nmapped;           /* live mappings of the buffer */
bool att[N + 1];        /* importer i is attached */
bool mapped[N + 1];     /* its attachment is mapped */
bool inval[N + 1];      /* invalidated while mapped: it owes an unmap */
bool job[N + 1];        /* its DMA job is in flight */
#ifdef IDS
/*
 * With -DIDS, the ids the attach and the dma-submit returned, as the explorer
 * keeps them (a completed call's result is part of its state): the lowest id
 * free at the time (the World's lowestFreeId), so runs that attach or submit
 * in another order reach states that differ by a permutation of ids.
 */
byte attid[N + 1];
byte jobid[N + 1];
byte grantid[N + 1];    /* the grant of a live mapping (0 once unmapped: the world forgets it) */
/*
 * dmabuf->attachments in list order (importer numbers, newest first: attach
 * adds at the head, list_add). The explorer's world keeps this order; it
 * tells apart runs in which the same importers attached in another order.
 */
byte alist[N];
byte alen;
#endif

/* The lowest id not taken by a live object: attachment ids (atts live while attached), job ids (while in flight). */
inline lowestAtt(out) {
  out = 1;
  i = 1;
  do
  :: i <= N && att[i] && attid[i] == out -> out++; i = 1
  :: i <= N && !(att[i] && attid[i] == out) -> i++
  :: i > N -> break
  od;
  i = 0
}

#ifdef IDS
/* list_add(&attach->node, &dmabuf->attachments): at the head. */
inline listAdd(me) {
  i = alen;
  do
  :: i > 0 -> alist[i] = alist[i - 1]; i--
  :: else -> break
  od;
  alist[0] = me;
  alen++;
  i = 0
}

/* list_del(&attach->node). */
inline listDel(me) {
  i = 0;
  do
  :: i < alen && alist[i] != me -> i++
  :: else -> break
  od;
  do
  :: i + 1 < alen -> alist[i] = alist[i + 1]; i++
  :: else -> break
  od;
  alen--;
  alist[alen] = 0;
  i = 0
}
#endif

inline lowestGrant(out) {
  out = 1;
  i = 1;
  do
  :: i <= N && mapped[i] && grantid[i] == out -> out++; i = 1
  :: i <= N && !(mapped[i] && grantid[i] == out) -> i++
  :: i > N -> break
  od;
  i = 0
}

inline lowestJob(out) {
  out = 1;
  i = 1;
  do
  :: i <= N && job[i] && jobid[i] == out -> out++; i = 1
  :: i <= N && !(job[i] && jobid[i] == out) -> i++
  :: i > N -> break
  od;
  i = 0
}

/* invalidate_mappings under resv: every mapped attachment owes an unmap. */
inline invalidate() {
  assert(resv == TASKH);
  i = 1;
  do
  :: i <= N -> inval[i] = mapped[i]; i++
  :: else -> break
  od;
  i = 0
}

proctype importer(byte me) {
  bool a;               /* the attach bound its result */
  bool j;               /* the dma-submit bound its result */
  byte i;               /* scratch of the lowest* inlines */
  bool um;              /* the thread's own unmap succeeded (its result, as -DIDS keeps results) */
  /* attach: sleeps while resv is held; ENODEV while revoked */
  d_step { resv == 0 -> if :: revoked == USABLE ->
#ifdef IDS
    lowestAtt(attid[me]);
    listAdd(me);
#endif
    att[me] = 1; a = 1 :: else -> skip fi };
  /* lock */
  d_step { resv == 0 -> resv = me };
  /* map under resv: ENODEV while revoked */
  d_step { a -> assert(resv == me); if :: revoked == USABLE ->
#ifdef IDS
    lowestGrant(grantid[me]);
#endif
    mapped[me] = 1; nmapped++ :: else -> skip fi };
  /* dma-submit under resv: EINVAL unless mapped; never through an invalidated mapping */
  d_step { a -> if :: mapped[me] -> assert(resv == me && !inval[me]);
#ifdef IDS
    lowestJob(jobid[me]);
#endif
    job[me] = 1; fences++; j = 1 :: else -> skip fi };
  /* unlock */
  d_step { assert(resv == me); resv = 0 };
  /* dma-access: faults unless mapped; a mapped access must reach live memory */
  d_step { j -> assert(!mapped[me] || live) };
  /* signal */
  d_step { j -> job[me] = 0; fences-- };
  /* lock */
  d_step { resv == 0 -> resv = me };
  /* unmap under resv: EINVAL unless mapped */
  d_step { a -> if :: mapped[me] -> mapped[me] = 0; inval[me] = 0; nmapped--;
#ifdef IDS
    um = 1; grantid[me] = 0;
#endif
    skip :: else -> skip fi };
  /* unlock */
  d_step { resv = 0 };
  /* detach: sleeps while resv is held; EBUSY while mapped */
  d_step { a && resv == 0 -> if :: !mapped[me] -> att[me] = 0;
#ifdef IDS
    listDel(me);
#endif
    skip :: else -> skip fi }
}

/* The unmap importer i owes after an invalidate: lock, unmap, unlock (owedUnmaps). */
proctype owed(byte me) {
end:
  do
  :: d_step { inval[me] && mapped[me] && resv == 0 -> resv = OWEDH + me }
  :: d_step { resv == OWEDH + me && inval[me] && mapped[me] -> mapped[me] = 0; inval[me] = 0; nmapped--;
#ifdef IDS
    grantid[me] = 0;
#endif
    skip }
  :: d_step { resv == OWEDH + me && !(inval[me] && mapped[me]) -> resv = 0 }
  od
}

/* The exporter's thread: each call after the first waits for the task it started. */
proctype exporter() {
#ifdef CLOSE
  d_step { task = REVOKE; tperm = 1; tpc = 0 }
#else
  d_step { task = REVOKE; tperm = 0; tpc = 0 };
  d_step { task == NONE -> live = 0 };
  d_step { live = 1 };
  d_step { task = UNREVOKE; tpc = 0 }
#endif
}

/* The running task's steps (REVOKE_PROGRAM, UNREVOKE_PROGRAM). */
active proctype kernel() {
  byte i;
end:
  do
  :: d_step { task == REVOKE && tpc == 0 && resv == 0 -> resv = TASKH; tpc++ }
  :: d_step { task == REVOKE && tpc == 1 -> assert(resv == TASKH); revoked = (tperm -> PERMANENT : TEMPORARY); tpc++ }
  :: d_step { task == REVOKE && tpc == 2 -> invalidate(); tpc++ }
  :: d_step { task == REVOKE && tpc == 3 && fences == 0 -> tpc++ }
  :: d_step { task == REVOKE && tpc == 4 -> resv = 0; tpc++ }
  :: d_step { task == REVOKE && tpc == 5 && nmapped == 0 -> task = NONE; tpc = 0 }
  :: d_step { task == UNREVOKE && tpc == 0 && resv == 0 -> resv = TASKH; tpc++ }
  :: d_step { task == UNREVOKE && tpc == 1 -> invalidate(); tpc++ }
  :: d_step { task == UNREVOKE && tpc == 2 && fences == 0 -> tpc++ }
  :: d_step { task == UNREVOKE && tpc == 3 -> resv = 0; tpc++ }
  :: d_step { task == UNREVOKE && tpc == 4 && resv == 0 -> resv = TASKH; tpc++ }
  :: d_step { task == UNREVOKE && tpc == 5 -> assert(resv == TASKH); revoked = USABLE; tpc++ }
  :: d_step { task == UNREVOKE && tpc == 6 -> resv = 0; task = NONE; tpc = 0 }
  od
}

init {
  byte k;
  atomic {
    run exporter();
    k = 1;
    do
    :: k <= N -> run importer(k); run owed(k); k++
    :: else -> break
    od
  }
}
