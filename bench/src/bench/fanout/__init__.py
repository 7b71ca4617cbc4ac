"""Livedesk's gateway against the peer users would pick, side by side, same load generator.

    .venv/bin/python -m bench.fanout --help
    .venv/bin/python -m bench.fanout --quick                 # smoke run, small counts
    .venv/bin/python -m bench.fanout --servers peer --workloads broadcast,idle
    .venv/bin/python -m bench.fanout --servers livedesk-node --workloads sparse \
        --idle-window 10 --print-pids           # the node alone, for a profiler

The peer is python-socketio's AsyncServer with AsyncAioPikaManager on RabbitMQ, two uvicorn
processes (`peer`, started by `targets.PeerTarget`). Livedesk is the real topology: `livedesk
api`, `livedesk presence` and two `livedesk gateway` processes on a fresh PostgreSQL database
(`livedesk_stack.LivedeskTarget`), or, for profiling the node, the two gateways alone against
a stub API (`livedesk-node`, `node_alone.NodeAloneTarget`). One load generator (`loadgen`,
worker processes on uvloop with a lean client of their own, `bench.wsclient`) speaks both
protocols (`codecs`); one publisher process (`publisher`) emits at a fixed rate through the
peer's write-only manager, Livedesk's REST API, or straight onto livedesk.events.

Modules: codecs (wire formats, sans-I/O), stats (histograms, per-client ledgers), procs
(process groups, /proc figures), rpc (JSON lines to worker processes), loadgen, client, publisher,
peer, targets, livedesk_setup (a database, services and accounts, also for bench.api_writes),
livedesk_stack, node_alone, workloads, interleaved (broadcast and sparse with every
server up at once, windows alternating), report, __main__ (the CLI). Another server is one
more `Target` (start, stop, nodes, accounts, publisher_init, counters); another workload is
one more entry in `workloads.WORKLOADS`.

Deliberately not here: assertions. It prints figures and saves raw results under
bench/results/; the machine is shared, so every table says what else was running.
"""
