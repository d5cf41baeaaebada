"""The peers the benchmark measures ours against, in the same run, each with a publisher of its own kind.

- `webstomp_node.py`: RabbitMQ's Web-STOMP plugin on a private node started for the run;
- `socketio_app.py`: python-socketio's AsyncServer on AsyncAioPikaManager, on uvicorn;
- `bare_server.py`: a bare `websockets` fan-out, the ceiling;
- `servers.py` starts and stops their processes, `publishers.py` publishes to
  each, `workloads.py` runs W1, W2 and W3 on each.
"""
