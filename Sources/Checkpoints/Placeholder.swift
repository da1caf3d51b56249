// placeholder until the Checkpoints module lands
