// placeholder until the Shell module lands
