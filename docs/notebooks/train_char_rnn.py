# %% [markdown]
# # Training a character RNN
