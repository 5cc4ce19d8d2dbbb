"""`vmemsim-plot compare`: one number per run and VM as a bar chart."""
def add_parser(sub): pass
