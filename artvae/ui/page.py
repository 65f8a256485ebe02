"""What the tabs share: the `Page` (the engine, the folder results are written to, the live
renders, the examples and the shared size and tileable controls) and `Tab`, the part of
Encode, Mix, Blend and Explore that the page wires alike.

Each of those four tabs settles with a handler `fn(*inputs, size, tileable, *extra)` that
returns its outputs: the result's view, the settled result (kept in a state for the download)
and any extras. Results are made once per settings (`Page.fetch`): a slider's frames while it
moves, smaller when the machine is slow (`Page.preview`), and the full result on release. The
same handler re-runs the visible tab when the shared controls change or Restore fills it.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field

import gradio as gr

from artvae.serve import live
from artvae.serve.engine import Engine
from artvae.serve.files import OutputFolder
from artvae.serve.playground import Result

from .widgets import NAMED, NAMED_DEFAULTS, RAW, named_controls, runs_model

FIRST_EXAMPLES = {"bricks", "cells", "wood"}  # the first page's inputs, when all are there
RELEASE_SHRINK = 2  # a slider's release shows a frame this many times smaller first


@dataclass(eq=False)
class Page:
    """What every tab is built with."""

    engine: Engine
    examples: dict[str, str]  # example name -> PNG file
    folder: OutputFolder = field(default_factory=OutputFolder)
    renders: live.Renders = field(default_factory=live.Renders)
    size: gr.Slider | None = None  # the shared controls, once the page's header holds them
    tileable: gr.Checkbox | None = None
    # keys a release (or an input) asked to settle: a slider's later frames must not replace them
    settled: collections.deque = field(default_factory=lambda: collections.deque(maxlen=256))

    @property
    def shared(self) -> list:
        """The controls every tab's handler takes after its own: output size, tileable."""
        return [self.size, self.tileable]

    @property
    def directions(self) -> int:
        """Style directions Explore's sliders move along."""
        return self.engine.model.style_basis.shape[0]

    @property
    def has_controls(self) -> bool:
        """Whether the weights carry named style controls (else only the scale shows)."""
        return self.engine.controls is not None

    @property
    def has_examples(self) -> bool:
        """Whether the tabs open with results made from the examples."""
        return set(self.examples) >= FIRST_EXAMPLES

    def example(self, name: str | None) -> str | None:
        """An example's file for a tab's first inputs (None without the examples)."""
        return self.examples[name] if self.has_examples and name else None

    def example_file(self, name: str) -> dict:
        """An example file as the page sends an image (what `webapi.uploaded` accepts)."""
        return {"path": self.examples[name], "meta": {"_type": "gradio.FileData"}}

    def fetch(self, key: tuple, make: Callable[[int], Result], shrink: int = 0):
        """(result, JPEG URL) of `make(shrink)`, kept by `key` and `shrink`. `shrink` 0: the
        settled result (full size); >= 1: a frame while a slider moves, None where that would
        come after the settled result of the same settings, which it must not replace (a
        move that reaches the server after the release only slows it down)."""
        if shrink == 0:
            self.settled.append(key)
            return self.renders.get((*key, 1), lambda: make(1))
        if key in self.settled or (shrink > 1 and self.renders.has((*key, 1))):
            return None
        made = self.renders.get((*key, shrink), lambda: make(shrink))
        return None if key in self.settled else made

    def preview(self, size, least: int = 1) -> int:
        """How much smaller a moving slider's frames are made (see `live.Renders`), at least
        `least` times."""
        side = size if isinstance(size, (int, float)) and size > 0 else 512
        return max(least, self.renders.shrink_for(int(side) ** 2))

    @staticmethod
    def moving(made) -> str:
        """The view of a frame made while a slider moves (a `fetch` answer)."""
        return gr.skip() if made is None else live.view(*made, False)

    def download(self, result: Result | None) -> str | None:
        """The result as a PNG carrying its recipe (written once it has settled)."""
        return None if result is None else str(self.folder.save(result))

    def results(self, first: tuple | None, elem_id: str, empty: str) -> tuple:
        """A tab's result view, its settled result (for the download) and the download,
        showing `first` (view, result) or `empty`."""
        view, result = first or (live.placeholder(empty), None)
        shown = gr.HTML(view, elem_id=elem_id, min_height=200)
        state = gr.State(result)
        file = gr.File(self.download(result), label="Download: the PNG carries its recipe (drop "
                       "it in Restore)", interactive=False, height=80,
                       elem_id=f"{elem_id}-download")
        return shown, state, file


class Tab:
    """Encode, Mix, Blend or Explore as the page wires it. `build` lays the tab out and sets:
    `block` (its gr.Tab), `fn` (the handler that settles it), `inputs` (its own controls),
    `extra` (controls its handler takes after the shared ones), `outputs`, `state` (the
    settled result) and `file` (its download), `controls` (Restore's keys -> its components)
    and `restorable` (every component Restore may set)."""

    name: str
    needs = 0  # leading images the tab cannot run without

    def __init__(self, page: Page):
        self.page = page
        self.extra: list = []
        self.controls: dict = {}
        self.named: list = []  # the named controls' sliders (`named_sliders`)

    def named_sliders(self, note: str) -> list:
        """The named controls (brightness ... grain, scale) under a line saying what they
        move; kept in `named`."""
        gr.Markdown(note + ("" if self.page.has_controls else
                            " These weights carry no named style controls: only the scale."))
        self.named = named_controls(self.name, self.page.has_controls)
        return self.named

    def named_restore(self, controls: dict) -> dict:
        """{slider: value} for the named controls a restored recipe set (the rest to their
        defaults)."""
        named = controls.get("named", {})
        return {slider: named.get(name, NAMED_DEFAULTS[name])
                for slider, name in zip(self.named, NAMED, strict=True)}

    def build(self) -> None:
        raise NotImplementedError

    def restore(self, controls: dict) -> dict:
        """`restore.restored_controls`' answer for this tab -> {component: value} for its
        images and what `controls` does not name."""
        raise NotImplementedError

    def ready(self, own: tuple) -> bool:
        """Whether the values of its own inputs let it run (a tab still waiting for its images
        is left as it is)."""
        return all(v is not None for v in own[:self.needs])

    @property
    def restorable(self) -> list:
        return [*self.controls.values(), *self.named]

    def event(self, fn: Callable | None = None) -> dict:
        """The tab's settling run (or `fn`'s: a generator may show a picture before the
        result), as keyword arguments of an event."""
        return dict(fn=runs_model(fn or self.fn, len(self.outputs)),
                    inputs=self.inputs + self.page.shared + self.extra, outputs=self.outputs,
                    **RAW)

    def settle(self, triggers: list, fn: Callable | None = None) -> None:
        """Run the tab (or `fn`, see `event`) on `triggers`, then write its download."""
        gr.on(triggers, show_progress="minimal", **self.event(fn)).success(
            self.page.download, self.state, self.file, **RAW)

    def after(self, event, fn: Callable | None = None) -> None:
        """Run the tab (or `fn`) after `event` (examples loaded, a sample sent), then write its
        download."""
        event.then(**self.event(fn)).success(self.page.download, self.state, self.file, **RAW)

    def follow(self, sliders: list, live_fn: Callable, view: gr.HTML) -> None:
        """While `sliders` move, `view` follows them (the latest value only, `live_fn`); on
        release the tab settles, showing a quick frame first (`released`)."""
        gr.on([c.input for c in sliders], runs_model(live_fn, 1),
              self.inputs + self.page.shared + self.extra, view, show_progress="hidden", **RAW)
        self.settle([c.release for c in sliders], self.released(live_fn, view))

    def released(self, live_fn: Callable, view: gr.HTML) -> Callable:
        """The settling run of a slider's release: unless the result is kept already, first a
        frame of it at most half the size (`RELEASE_SHRINK`; a quarter of the time, drawn at
        full size, or the last drag frame if that was it), then the result in its place."""
        at, count = self.outputs.index(view), len(self.outputs)

        def release(*values):
            quick = live_fn(*values, least=RELEASE_SHRINK)
            if isinstance(quick, str):  # a view, not gr.skip()
                yield [quick if i == at else gr.skip() for i in range(count)]
            yield self.fn(*values)
        release.__name__ = f"{self.name}_release"
        return release

    def select_sets(self, visible: gr.State) -> None:
        """Showing the tab sets `visible` to its name (the shared controls re-run that tab)."""
        self.block.select(lambda: self.name, None, visible, api_visibility="private",
                          queue=False)

