"""Connecting to Ray: an embedded local instance by default, or an existing cluster."""

from __future__ import annotations

import os

from .errors import ConfigError


def connect(address: str | None = None, num_cpus: int | None = None, num_gpus: int | None = None):
    """Initialise Ray once per process and return the module.

    No address (and no RAY_ADDRESS): start an embedded local instance, optionally limited to
    `num_cpus` / `num_gpus`. With an address ("auto", "ray://host:10001", "host:6379"): join
    that cluster; resources then come from the cluster, so num_cpus/num_gpus are not passed
    (Ray refuses them when connecting).
    """
    import ray

    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            resources = {}
            if num_cpus is not None:
                resources["num_cpus"] = num_cpus
            if num_gpus is not None:
                resources["num_gpus"] = num_gpus
            ray.init(address="local", **resources, **kwargs)
    except ConnectionError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {exc}") from None
    return ray
