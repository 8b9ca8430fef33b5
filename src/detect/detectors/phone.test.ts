import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileScanner } from '../scanner.ts';

const scanner = compileScanner();
const phones = (text: string) => scanner.scan(text).filter((f) => f.type === 'PHONE_NUMBER').map((f) => text.slice(f.start, f.end));

describe('phone numbers in address and ID context', () => {
  it('house and street numbers before a street name are not phone numbers', () => {
    assert.deepEqual(phones('ship to 17151 2450 Crown St, Springfield'), []);
    assert.deepEqual(phones('Apt. 722 20 40 rue Victor Hugo'), []);
    assert.deepEqual(phones('Suite 680 36 4022 Oakridge Lane Dallas'), []);
    assert.deepEqual(phones('Unit 415 555 2671, second floor'), [], 'an address unit right before');
  });

  it('postal codes, IDs, timestamps and IMEIs are not phone numbers', () => {
    assert.deepEqual(phones('Fannyhaven 46139-5526, USA'), [], 'US ZIP+4');
    assert.deepEqual(phones('Moreira do Sul 04568-873'), [], 'Brazilian CEP');
    assert.deepEqual(phones('IMEI 35-209900-176148-1'), []);
    assert.deepEqual(phones('ts=1796453491065'), []);
    assert.deepEqual(phones('invoice 4946-194383 is open'), []);
    assert.deepEqual(phones('Order #61353980 and account 1023519081'), []);
    assert.deepEqual(phones("driver's license 415 555 2671"), []);
    assert.deepEqual(phones('Rua Liz Quadra 51, Calebe do Sul 91365-424'), [], 'a postal code after a place name');
  });

  it('real numbers next to addresses and IDs are still found', () => {
    const text = 'Address: 495 Jayce Squares Apt. 597, Fannyhaven 46139-5526 / Phone: (925) 867-5169 and invoice 4946-194383';
    assert.deepEqual(phones(text), ['(925) 867-5169'], 'labels only count before the number');
    assert.deepEqual(phones('Contact 1-401-438-4061 x32571 about it'), ['1-401-438-4061 x32571'], 'extension digits do not count towards the 15');
    assert.deepEqual(phones('Phone: (05765) 5987032'), ['(05765) 5987032'], 'five-digit area code in parentheses');
    assert.deepEqual(phones('can be reached on 3486451532.'), ['3486451532']);
    assert.deepEqual(phones('Tel +49 30 901820'), ['+49 30 901820']);
  });
});

