"""Generation on its own GPUs: the ``trl vllm-serve`` server of ``grpo.vllm_mode: server``.

With ``grpo.use_vllm: true`` and ``grpo.vllm_mode: server`` (hf backend) TRL's trainer sends its
generation requests to a vLLM server started on other GPUs (``trl vllm-serve --model ...
--host H --port P``, which runs vLLM's own server) and pushes the new weights to it after each
step. The config's ``vllm_server_host`` / ``vllm_server_port`` / ``vllm_server_timeout`` are
validated when the config loads (a port outside 1..65535 or a negative timeout is a config
error); :func:`require_vllm_server` then asks the server's health endpoint (``GET /health``, the
one TRL's ``VLLMClient.check_server`` polls) before any model is loaded, so a server that is not
there costs seconds, not a model load. ``heartgrpo doctor`` runs the same check.

Which backend supports what: Unsloth is single-GPU with colocated vLLM (``model.fast_inference``);
the server mode, and every multi-GPU run, use the ``hf`` backend.

    >>> vllm_server_url("127.0.0.1", 8000)
    'http://127.0.0.1:8000'
    >>> vllm_server_url("::1", 8001)
    'http://[::1]:8001'
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING

from heartgrpo.config.run import ConfigError

if TYPE_CHECKING:
    from heartgrpo.config.run import GRPOSettings

__all__ = ["ServerCheck", "VLLMServerUnavailable", "check_vllm_server", "require_vllm_server", "vllm_server_url"]

#: the most seconds the pre-flight check waits for an answer
CHECK_TIMEOUT_S = 10.0


class VLLMServerUnavailable(ConfigError):
    """The configured ``trl vllm-serve`` server did not answer its health check."""


@dataclass(frozen=True)
class ServerCheck:
    ok: bool
    url: str
    detail: str


def vllm_server_url(host: str, port: int) -> str:
    """``http://host:port`` (IPv6 hosts in brackets)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{int(port)}"


def check_vllm_server(host: str, port: int, timeout: float = CHECK_TIMEOUT_S) -> ServerCheck:
    """Ask ``GET http://host:port/health`` once, waiting at most ``timeout`` seconds.

    ``ok`` only for HTTP 200; ``detail`` names what happened (status, refused, timed out).
    """
    url = vllm_server_url(host, port)
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as reply:  # noqa: S310 - http URL built above
            status = reply.status
    except urllib.error.HTTPError as err:
        return ServerCheck(False, url, f"GET /health answered HTTP {err.code}")
    except (TimeoutError, urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            return ServerCheck(False, url, f"no answer to GET /health within {timeout:g} s")
        return ServerCheck(False, url, f"cannot connect: {reason}")
    if status != 200:
        return ServerCheck(False, url, f"GET /health answered HTTP {status}")
    return ServerCheck(True, url, "GET /health answered 200")


def require_vllm_server(grpo: GRPOSettings) -> ServerCheck | None:
    """For ``use_vllm`` + ``vllm_mode: server``: the health check, raising
    :class:`VLLMServerUnavailable` (a config error, exit code 2) when the server does not answer;
    None when the config uses no server."""
    if not (grpo.use_vllm and grpo.vllm_mode == "server"):
        return None
    check = check_vllm_server(grpo.vllm_server_host, grpo.vllm_server_port, min(grpo.vllm_server_timeout, CHECK_TIMEOUT_S))
    if not check.ok:
        raise VLLMServerUnavailable(
            f"grpo.vllm_mode 'server': the vLLM server at {check.url} does not answer ({check.detail}). Start it on "
            f"the generation GPUs first, e.g. `CUDA_VISIBLE_DEVICES=1 trl vllm-serve --model MODEL --host "
            f"{grpo.vllm_server_host} --port {grpo.vllm_server_port}`, or fix grpo.vllm_server_host / vllm_server_port."
        )
    return check
