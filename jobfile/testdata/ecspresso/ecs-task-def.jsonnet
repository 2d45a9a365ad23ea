local common = import 'ecs-task-def.libsonnet';
local env = std.native('env');
local must_env = std.native('must_env');
local tfstate = std.native('tfstate');
local stage = std.extVar('stage');
{
  family: 'batch-' + stage,
  taskRoleArn: tfstate('aws_iam_role.task.arn'),
  executionRoleArn: tfstate("aws_iam_role.execution['batch'].arn"),
  networkMode: 'awsvpc',
  requiresCompatibilities: ['FARGATE'],
  cpu: '256',
  memory: '512',
  containerDefinitions: [
    {
      name: 'batch',
      image: must_env('IMAGE'),
      essential: true,
      command: ['bundle', 'exec', 'rake', 'batch:run'],
      environment: [
        { name: 'RAILS_ENV', value: env('RAILS_ENV', 'production') },
        { name: 'WORKERS', value: std.toString(std.extVar('workers')) },
        // The template functions run over Jsonnet's output, as in ecspresso.
        { name: 'API_ENDPOINT', value: '{{ ssm `/batch/api_endpoint` }}' },
      ],
      logConfiguration: common.logConfiguration('/ecs/batch-' + stage),
    },
  ],
}
