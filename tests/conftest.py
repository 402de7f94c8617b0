"""Shared test setup. Tests are small and real: tiny models built in code, generated audio."""
import torch

# The machine has 2 cores shared by everything; one thread keeps tests predictable.
torch.set_num_threads(1)
