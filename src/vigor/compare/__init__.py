"""`vigor compare`: the paper's experiment (one run per reward and seed, held-out accuracy and stability
compared) as one resumable command. See vigor.compare.study and vigor.compare.report."""
