"""vmemsim-plot internals: plots of vmemsim result JSON (DESIGN.md "Output", "Sweeps").

Modules, one concern each:
  errors      PlotError (exit 2 with a message) and warn() on stderr.
  results     loading result.json files, entity (VM/host) selection, run labels from the
              scenario parameters that differ between runs.
  metrics     metric addressing: a dotted path below summary.<vms|hosts>.<name> or
              timeseries.<vms|hosts>.<name>, suffix matching, dict aggregates, histograms,
              units and reductions (--stat). The one place that knows metric names.
  figure      matplotlib setup (Agg, dpi 120, grid, constrained layout), output format
              from the -o extension, deterministic saving, tick formatters.
  timeseries, compare, sweep, cdf
              one subcommand each: add_parser(subparsers) registers it, run(args) draws it.

Nothing here scrapes vmemsim's stdout; everything reads result JSON (STYLE.md).
"""
