"""The local stack: moto with strict Route 53, an authoritative DNS server over its zones,
a Slack webhook sink and Pebble, all on 127.0.0.1 (dev and test only, never shipped)."""

from local_stack.ports import Ports, free_port_base
from local_stack.stack import PortsBusy, Stack, StackError

__all__ = ["Ports", "PortsBusy", "Stack", "StackError", "free_port_base"]
