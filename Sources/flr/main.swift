print("flr")
