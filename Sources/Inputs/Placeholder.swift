// placeholder until the Inputs module lands
