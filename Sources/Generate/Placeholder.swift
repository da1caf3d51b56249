// placeholder until the Generate module lands
