import { describe, expect, it } from 'vitest';
import { CliError, CliErrorCodes } from './cli-error.js';
import { parsePolicyFile } from './policy-file.js';

function fileError(text: string, name = 'p.yaml'): string {
  try {
    parsePolicyFile(text, name);
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    expect((e as CliError).code).toBe(CliErrorCodes.FILE);
    expect((e as CliError).exitCode).toBe(2);
    return (e as Error).message;
  }
  throw new Error('expected a file error');
}

describe('parsePolicyFile', () => {
  it('reads one YAML document, with resourceVersion as a number or a string', () => {
    expect(
      parsePolicyFile(
        'kind: Policy\nservice: orders\npolicy:\n  balancer: { kind: least_request }\nresourceVersion: 7\n',
        'p.yaml',
      ),
    ).toEqual([
      {
        kind: 'Policy',
        service: 'orders',
        policy: { balancer: { kind: 'least_request' } },
        resourceVersion: '7',
        where: 'p.yaml:1',
      },
    ]);
    expect(
      parsePolicyFile('{kind: Policy, service: a, policy: {}, resourceVersion: "0"}', 'p.yaml')[0]?.resourceVersion,
    ).toBe('0');
  });

  it('reads several YAML documents and lists, with the line of each', () => {
    const docs = parsePolicyFile(
      [
        'kind: Policy',
        'service: a',
        'policy: {}',
        '---',
        '- kind: Policy',
        '  service: b',
        '  policy: {}',
        '- kind: Policy',
        '  service: c',
        '  policy: {}',
        '---',
        '',
      ].join('\n'),
      'all.yaml',
    );
    expect(docs.map((d) => [d.service, d.where])).toEqual([
      ['a', 'all.yaml:1'],
      ['b', 'all.yaml:5'],
      ['c', 'all.yaml:8'],
    ]);
  });

  it('reads JSON strictly when the name ends in .json: one object or a list', () => {
    expect(parsePolicyFile('{"kind":"Policy","service":"a","policy":{}}', 'p.json')).toHaveLength(1);
    expect(
      parsePolicyFile(
        '[{"kind":"Policy","service":"a","policy":{}},{"kind":"Policy","service":"b","policy":{}}]',
        'p.json',
      )[1]?.where,
    ).toBe('p.json item 2');
    expect(fileError('{"kind":"Policy",\n "service":"a",}', 'p.json')).toBe(
      'p.json:2:16: not valid JSON: Expected double-quoted property name',
    );
    expect(fileError('', 'p.json')).toBe('p.json: not valid JSON: Unexpected end of JSON input');
  });

  it('names the file and line of a YAML syntax error', () => {
    expect(fileError('kind: Policy\nservice: a\n  policy: {}\n')).toBe(
      'p.yaml: not valid YAML: Nested mappings are not allowed in compact mappings at line 2, column 10',
    );
    expect(fileError('kind: Policy\nkind: Policy\n')).toMatch(
      /^p\.yaml: not valid YAML: Map keys must be unique at line 2, column 1$/,
    );
  });

  it('names what is wrong with a document, and where', () => {
    expect(fileError('service: a\npolicy: {}\n')).toBe('p.yaml:1: kind is missing (Policy or AuthorizationPolicy)');
    expect(fileError('kind: Service\nservice: a\npolicy: {}\n')).toBe(
      'p.yaml:1: kind must be Policy or AuthorizationPolicy, not the string "Service"',
    );
    expect(fileError('kind: AuthorizationPolicy\nservice: a\n')).toMatch(
      /the fields to set for a, see docs\/security\.md/,
    );
    expect(fileError('kind: Policy\npolicy: {}\n')).toBe('p.yaml:1: service is missing');
    expect(fileError('kind: Policy\nservice: "a b"\npolicy: {}\n')).toMatch(
      /^p\.yaml:1: service must be a service name/,
    );
    expect(fileError('kind: Policy\nservice: a\n')).toMatch(/^p\.yaml:1: policy is missing \(the fields to set for a/);
    expect(fileError('kind: Policy\nservice: a\npolicy: [1]\n')).toBe('p.yaml:1: policy must be a mapping, not a list');
    expect(fileError('kind: Policy\nservice: a\npolicy: {}\nresourceVersion: abc\n')).toMatch(
      /^p\.yaml:1: resourceVersion must be a whole number/,
    );
    expect(fileError('kind: Policy\nservice: a\nbalancer: {kind: random}\npolicy: {}\n')).toMatch(
      /^p\.yaml:1: unknown field "balancer"; .* go under policy:/,
    );
    expect(fileError('- 1\n')).toBe(
      'p.yaml:1: expected a mapping with kind (Policy or AuthorizationPolicy), service and policy, got the number 1',
    );
    expect(fileError('# nothing\n')).toBe('p.yaml: no policy documents in it');
  });

  it('refuses a service name the mesh refuses (a DNS label of at most 63 characters), before anything is sent', () => {
    for (const name of ['Orders', 'orders.v2', 'orders_v2', '-orders', 'orders-', 'a'.repeat(64)]) {
      expect(fileError(`kind: Policy\nservice: ${name}\npolicy: {}\n`), name).toMatch(
        /^p\.yaml:1: service must be a service name \(use a DNS label: lower-case letters, digits and "-"/,
      );
    }
    expect(parsePolicyFile(`kind: Policy\nservice: ${'a'.repeat(63)}\npolicy: {}\n`, 'p.yaml')).toHaveLength(1);
  });

  it('refuses a service configured twice for one kind, and takes one document of each kind', () => {
    expect(fileError('kind: Policy\nservice: a\npolicy: {}\n---\nkind: Policy\nservice: a\npolicy: {}\n')).toBe(
      'p.yaml:5: Policy of service a is already configured at p.yaml:1; keep one document per service and kind',
    );
    const both = parsePolicyFile(
      'kind: Policy\nservice: a\npolicy: {}\n---\nkind: AuthorizationPolicy\nservice: a\npolicy: {rules: [{from: [web]}]}\n',
      'p.yaml',
    );
    expect(both.map((d) => `${d.kind}/${d.service}`)).toEqual(['Policy/a', 'AuthorizationPolicy/a']);
  });
});
