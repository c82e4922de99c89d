"""StyleGAN2/StyleGAN3 in avgen's own code (networks, custom ops, safe checkpoint loading).

Not implemented yet: this package is reserved for the StyleGAN issue, which the sound-to-video head builds on.
Importing it works; it exports nothing until then.
"""

__all__: list[str] = []
