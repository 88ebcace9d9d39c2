# %% [markdown]
# # Deriving the gradients
