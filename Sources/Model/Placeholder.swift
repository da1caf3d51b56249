// placeholder until the Model module lands
