"""Sensor drivers: one small module per part, each taking the bus or pin it
uses in its constructor (``CapacitiveMoisture(adc, ...)``, ``DS18B20(ow)``) so
a fake bus that follows the datasheet can test it on CPython."""
