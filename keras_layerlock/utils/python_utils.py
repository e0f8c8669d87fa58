class classproperty(property):
    """A read-only property computed on the class (like keras-hub's)."""

    def __get__(self, _, owner_cls):
        return self.fget(owner_cls)
