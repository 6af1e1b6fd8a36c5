import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'coverage/', 'bench/out/', 'certs/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', performance: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-restricted-syntax': [
        'error',
        { selector: "MemberExpression[object.name='Date'][property.name='now']", message: 'Take time from an injected Clock (src/core/clock.ts).' },
        { selector: "MemberExpression[object.name='Math'][property.name='random']", message: 'Take randomness from an injected Random (src/core/random.ts).' },
      ],
    },
  },
  {
    files: ['src/core/**', 'test/**', 'bench/**', '**/*.test.ts', '**/*.case.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
);
