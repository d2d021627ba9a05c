"""The test toolkit: one helper of each kind (servers, clients, processes, load, waiting, apps,
PKI, ...). tests/README.md says which to use for what; tests import from here, never from
another test file."""
