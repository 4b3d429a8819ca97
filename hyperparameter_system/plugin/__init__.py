"""Plugins: finding, loading and registering category and model plugins.

``loading`` finds the built-in folders (``categories/``, ``models/``), an
experiment's ``plugin_dirs`` and installed entry points and loads each once;
``registry`` holds what they registered (a name twice is refused, naming both
sources); ``yaml_category`` turns a category written only in YAML into one.
A plugin author's own API stays at the package root: ``hookspecs``,
``category``, ``model_spec``, ``option_fields``, ``errors``.
"""
