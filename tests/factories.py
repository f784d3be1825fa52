"""factory_boy factories for test data."""

import factory

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "accounts.User"
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    given_name = "Ada"
    family_name = "Lovelace"
    password = factory.django.Password(PASSWORD)
