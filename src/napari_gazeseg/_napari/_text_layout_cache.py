"""Remember how vispy laid out each text string, so that new fixation numbers redraw fast.

napari draws a Points layer's text with one vispy ``TextVisual``. Whenever the
text changes (a slider move gives the fixations layer new data, hence new
numbers), vispy throws away the vertices of *every* string and lays each one
out again in ``_text_to_vbo``: a flush of the OpenGL command queue, a viewport
read and reset, and a Python loop over its characters; about 0.3 ms per string
on a quiet 2-core machine with Mesa's software OpenGL, so 0.25 s for the 867
numbers of an 11-minute recording, on the UI thread, at every update
(``benchmarks/bench_gaze_layers.py``). Yet after a slider move nearly all the
strings ("1" to "867") are ones the same visual laid out before.

:func:`install` wraps vispy's ``_text_to_vbo`` with a cache per font (the
visual's ``TextureFont``, held weakly): the same string, anchors, size and line
height in the same font give the same vertices, because a font's glyphs keep
their place in its texture atlas once loaded (the atlas only grows). A string
not seen before is laid out by vispy's own function as before, and an update
that only shuffles known strings costs a dictionary look-up each. The cache is
a pure memo: what is drawn is unchanged, for our layers and any other's. Each
font keeps at most :data:`MAX_STRINGS` strings (then starts afresh).
Where vispy has no such function (another version), nothing is installed.
"""

from __future__ import annotations

import functools
import weakref

__all__ = ["MAX_STRINGS", "install", "installed"]

#: Strings remembered per font before its cache is cleared.
MAX_STRINGS = 65_536

_CACHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def installed() -> bool:
    """Whether vispy's text layout goes through the cache."""
    try:
        from vispy.visuals.text import text as vispy_text
    except ImportError:  # pragma: no cover - napari always brings vispy
        return False
    return getattr(vispy_text._text_to_vbo, "_gazeseg_cached", False)


def install() -> bool:
    """Wrap vispy's text layout with the per-font cache (once); True if it is in place."""
    try:
        from vispy.visuals.text import text as vispy_text
    except ImportError:  # pragma: no cover - napari always brings vispy
        return False
    original = getattr(vispy_text, "_text_to_vbo", None)
    if original is None:
        return False
    if getattr(original, "_gazeseg_cached", False):
        return True

    @functools.wraps(original)
    def cached_text_to_vbo(text, font, anchor_x, anchor_y, lowres_size, line_height):
        try:
            cache = _CACHES.get(font)
            if cache is None:
                cache = _CACHES[font] = {}
            key = (text, anchor_x, anchor_y, float(lowres_size), float(line_height))
        except TypeError:  # an unhashable or non-weakref-able argument: as vispy does
            return original(text, font, anchor_x, anchor_y, lowres_size, line_height)
        vertices = cache.get(key)
        if vertices is None:
            vertices = original(text, font, anchor_x, anchor_y, lowres_size, line_height)
            if len(cache) >= MAX_STRINGS:
                cache.clear()
            vertices.flags.writeable = False  # shared between draws: vispy only copies it
            cache[key] = vertices
        return vertices

    cached_text_to_vbo._gazeseg_cached = True
    vispy_text._text_to_vbo = cached_text_to_vbo
    return True
