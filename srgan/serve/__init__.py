"""``srgan serve``: a local web app to compare models on your own images, and to run a blind MOS study.

* :mod:`.app`: the Starlette app (pages and JSON API); :mod:`.jobs`: the upscale queue;
* :mod:`.study`: the study folder, the ratings file and MOS statistics; :mod:`.report`: ``srgan study report``;
* ``static/``: the plain HTML/CSS/JS pages (no build step); :mod:`.commands`: the CLI glue.

The web part needs the ``serve`` extra (``pip install -e ".[serve]"``); the study report does not.
"""
