"""The planes: what each `mops` cloud command does, without the command line.

One module per plane, each taking typed specs and options and returning bindings or results:

- ``infra``      the cluster stack (plan, up, teardown), the kubeconfig, the state backend, Runtime plans.
- ``registry``   the container registry stack.
- ``storage``    the object store stack and the shell environment that reaches it.
- ``workspace``  the Dask workspace on Kubernetes (render, up, down, status, scale, port-forward, the scaler loop),
                 and the cluster/object-store helpers the adaptive plane shares.
- ``adaptive``   one calibration run on Kubernetes (render, up, down, status, logs, list, the store's jobs).
- ``destroy``    every stack of an environment, in reverse order.
- ``stacks``     what every plane asks of Pulumi: configs, contexts, provider configs, deployed-or-not, outputs.

Planes never prompt and never print: progress goes through ``on_output`` / ``on_note`` callbacks, questions are
asked by the caller between two plane calls (look, then act), and expected failures are exceptions the CLI's one
error boundary (``modelops.cli.output``) maps to a message and an exit code. ``modelops.cli`` is a thin layer of
typer options, one plane call and rich presentation; nothing here imports it.
"""
