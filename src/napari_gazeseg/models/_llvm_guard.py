"""Load triton so that its LLVM cannot clash with an OpenGL driver's LLVM.

Recent torch wheels import ``triton`` (through ``torch._dynamo``, which
torchvision and so segment-anything import). ``libtriton.so`` carries its own
LLVM. When napari has already drawn with Mesa (software rendering, or the
radeonsi/llvmpipe drivers of many Linux desktops), Mesa's ``libLLVM`` is in the
process and its symbols take precedence: loading triton then crashes the whole
napari process with a segmentation fault (pytorch/pytorch#96060 is the same
clash from the other side). Loading triton with ``RTLD_DEEPBIND`` makes it bind
to its own LLVM first. Nothing changes where triton is absent or already loaded
(then it is too late: import ``napari_gazeseg.models`` before anything imports
torch's dynamo, as the plugin itself does).
"""

from __future__ import annotations

import importlib.util
import os
import sys

__all__ = ["load_triton_isolated"]


def load_triton_isolated() -> bool:
    """Import triton with ``RTLD_DEEPBIND`` unless it is loaded already; True when it did.

    Done whether or not an OpenGL driver's LLVM is in the process yet: napari may
    draw (and load Mesa's LLVM) after this package is imported but before torch
    first pulls triton in, and then it would be too late.
    """
    if "triton" in sys.modules or not hasattr(os, "RTLD_DEEPBIND"):
        return False
    if importlib.util.find_spec("triton") is None:
        return False
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | os.RTLD_DEEPBIND)
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    finally:
        sys.setdlopenflags(flags)
    return True
