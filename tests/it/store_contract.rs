//! The store contract, against the DynamoDB adapter on the emulator.

kairos::store_contract_tests!(kairos_tests::fresh_store());
