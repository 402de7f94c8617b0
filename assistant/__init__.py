"""The assistant: sessions over the speech and dialogue models, conversation memory, wire protocol.

Importing this package does not import torch; `Assistant.load` does.
"""

from .config import AssistantConfig
from .memory import ConversationNotFound, Memory
from .pipeline import Assistant, Reply, Session
from .protocol import ProtocolError

__all__ = ["Assistant", "AssistantConfig", "ConversationNotFound", "Memory", "ProtocolError", "Reply", "Session"]
