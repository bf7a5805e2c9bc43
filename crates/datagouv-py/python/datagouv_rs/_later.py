"""The coroutine every `…_async` call returns (the compiled module's helper)."""

from collections.abc import Callable
from typing import Any


async def later(start: Callable[[], Any]) -> Any:
    """Awaits what `start()` returns, made only now, inside the running event loop."""
    return await start()
