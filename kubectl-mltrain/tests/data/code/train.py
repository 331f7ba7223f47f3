import torch
print("train")
